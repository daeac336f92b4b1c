<?php

namespace Switchboard\Laravel\Webhooks;

use Closure;
use Switchboard\Laravel\Exceptions\ConfigurationException;

/**
 * Checks a delivery's Standard Webhooks headers: `webhook-signature` must hold a
 * `v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>` made with the shared
 * `whsec_<base64>` secret, and `webhook-timestamp` must be within the tolerance of this
 * server's clock, so that a captured delivery cannot be replayed later.
 */
class WebhookVerifier
{
    private const PREFIX = 'whsec_';

    /** @var string the decoded key bytes */
    private $key;

    /** @var int */
    private $toleranceSeconds;

    /** @var Closure(): int the Unix time in seconds; injected so tests control the window */
    private $clock;

    public function __construct(string $secret, int $toleranceSeconds = 300, ?Closure $clock = null)
    {
        $encoded = strncmp($secret, self::PREFIX, strlen(self::PREFIX)) === 0 ? substr($secret, strlen(self::PREFIX)) : $secret;
        $key = base64_decode($encoded, true);
        if ($key === false || $key === '') {
            throw new ConfigurationException('switchboard.webhook.secret is not whsec_<base64>: copy webhook_secret from `switchboard keys` into SWITCHBOARD_WEBHOOK_SECRET.');
        }
        $this->key = $key;
        $this->toleranceSeconds = $toleranceSeconds;
        $this->clock = $clock ?? static function (): int {
            return time();
        };
    }

    /**
     * @throws InvalidWebhookException saying which check failed
     */
    public function verify(?string $id, ?string $timestamp, ?string $signatures, string $body): void
    {
        if ($id === null || $id === '' || $timestamp === null || $signatures === null || $signatures === '') {
            throw new InvalidWebhookException('webhook-id, webhook-timestamp and webhook-signature are all required');
        }
        if (preg_match('/\A[0-9]{1,19}\z/', $timestamp) !== 1) {
            throw new InvalidWebhookException('webhook-timestamp is not Unix seconds');
        }
        if (abs(($this->clock)() - (int) $timestamp) > $this->toleranceSeconds) {
            throw new InvalidWebhookException("webhook-timestamp is more than {$this->toleranceSeconds} seconds from this server's clock");
        }
        $expected = base64_encode(hash_hmac('sha256', "{$id}.{$timestamp}.{$body}", $this->key, true));
        // The sender may list several signatures (secret rotation): one match is enough.
        foreach (explode(' ', $signatures) as $versioned) {
            $parts = explode(',', $versioned, 2);
            if (count($parts) === 2 && $parts[0] === 'v1' && hash_equals($expected, $parts[1])) {
                return;
            }
        }

        throw new InvalidWebhookException('no v1 signature in webhook-signature matches the body');
    }
}
