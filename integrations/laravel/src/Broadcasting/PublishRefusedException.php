<?php

namespace Switchboard\Laravel\Broadcasting;

use Illuminate\Broadcasting\BroadcastException;

/**
 * Switchboard's Pusher HTTP API answered a publish with a refusal (4xx or 5xx): nothing of
 * that request was published. A Laravel `BroadcastException`, so code that catches those
 * keeps working; `status()` and `reason()` (the service's own sentence) tell why.
 */
class PublishRefusedException extends BroadcastException
{
    /** What each refusal usually means on the host's side. */
    private const HINTS = [
        401 => 'the signature was refused: check PUSHER_APP_KEY and PUSHER_APP_SECRET against `switchboard keys`, and this server\'s clock (Switchboard allows 600 s of difference)',
        403 => 'Switchboard\'s own channels (private-moderator.*, private-profile.*, private-supervisors) carry only the service\'s events and accept no publish from the host',
        404 => 'the app id is not the one Switchboard serves: check PUSHER_APP_ID against `switchboard keys`',
        413 => 'the event\'s data is over the service\'s pusher_max_event_bytes (10 KiB unless configured): broadcast an id and let the front end fetch the rest',
    ];

    /** @var int */
    private $status;

    /** @var string */
    private $reason;

    /** @param string[] $channels */
    public function __construct(int $status, string $reason, string $event, array $channels)
    {
        $this->status = $status;
        $this->reason = $reason;
        $shown = implode(', ', array_slice($channels, 0, 3)).(count($channels) > 3 ? sprintf(' and %d more', count($channels) - 3) : '');
        $message = sprintf('Switchboard refused to publish %s on %s with %d', $event, $shown, $status);
        if ($reason !== '') {
            $message .= ": {$reason}";
        }
        if (isset(self::HINTS[$status])) {
            $message .= ' ('.self::HINTS[$status].')';
        }
        parent::__construct($message, $status);
    }

    /** The HTTP status Switchboard answered. */
    public function status(): int
    {
        return $this->status;
    }

    /** Switchboard's own sentence for the refusal (its plain-text answer), possibly empty. */
    public function reason(): string
    {
        return $this->reason;
    }
}
