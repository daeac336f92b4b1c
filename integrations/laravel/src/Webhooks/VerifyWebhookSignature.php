<?php

namespace Switchboard\Laravel\Webhooks;

use Closure;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;

/**
 * Route middleware (`switchboard.webhook`): lets a request through only when its Standard
 * Webhooks signature and timestamp verify. A refusal is a 401, which Switchboard records
 * and retries on its schedule, so a misconfigured secret shows up as failed deliveries in
 * the supervisor dashboard rather than as lost events.
 */
class VerifyWebhookSignature
{
    /** @var WebhookVerifier */
    private $verifier;

    public function __construct(WebhookVerifier $verifier)
    {
        $this->verifier = $verifier;
    }

    public function handle(Request $request, Closure $next)
    {
        try {
            $this->verifier->verify(
                $request->headers->get('webhook-id'),
                $request->headers->get('webhook-timestamp'),
                $request->headers->get('webhook-signature'),
                (string) $request->getContent()
            );
        } catch (InvalidWebhookException $refusal) {
            return new JsonResponse(['error' => ['code' => 'unauthorized', 'message' => $refusal->getMessage()]], 401);
        }

        return $next($request);
    }
}
