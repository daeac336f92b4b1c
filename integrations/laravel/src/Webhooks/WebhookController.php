<?php

namespace Switchboard\Laravel\Webhooks;

use Illuminate\Contracts\Events\Dispatcher;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Response;
use Switchboard\Laravel\Events\SwitchboardEvent;

/**
 * Turns a verified delivery `{"type", "timestamp", "data"}` into the Laravel event of its
 * type and answers 204 once every listener has run. A listener that throws makes the
 * answer a 5xx, so Switchboard delivers the event again later: delivery is at least
 * once, and listeners that must not act twice check `$event->webhookId`.
 */
class WebhookController
{
    public function __invoke(Request $request, Dispatcher $events)
    {
        $delivery = json_decode((string) $request->getContent(), true);
        if (! is_array($delivery) || ! is_string($delivery['type'] ?? null) || ! is_array($delivery['data'] ?? null)) {
            return new JsonResponse(['error' => [
                'code' => 'invalid_request',
                'message' => 'a delivery is a JSON object with a string "type" and an object "data"',
            ]], 400);
        }
        $events->dispatch(SwitchboardEvent::fromDelivery(
            (string) $request->headers->get('webhook-id'),
            $delivery['type'],
            is_string($delivery['timestamp'] ?? null) ? $delivery['timestamp'] : null,
            $delivery['data']
        ));

        return new Response('', 204);
    }
}
