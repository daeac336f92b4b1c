<?php

namespace Switchboard\Laravel\Events;

/**
 * One event Switchboard delivered by webhook (API.md v2 "Outbound events"). Each known
 * type has its own subclass, so a listener subscribes to exactly what it handles;
 * `$data` is the event's fields as Switchboard sent them.
 */
abstract class SwitchboardEvent
{
    /** The event type each subclass stands for. */
    public const CLASSES = [
        'message.sent' => MessageSent::class,
        'conversation.assigned' => ConversationAssigned::class,
        'conversation.released' => ConversationReleased::class,
        'profile.assigned' => ProfileAssigned::class,
        'profile.unassigned' => ProfileUnassigned::class,
        'moderator.state_changed' => ModeratorStateChanged::class,
        'alert.raised' => AlertRaised::class,
        'conflict.resolved' => ConflictResolved::class,
    ];

    /** @var string `webhook-id`: the same on every retry of this event, the key to dedupe on */
    public $webhookId;

    /** @var string `message.sent`, ... */
    public $type;

    /** @var string|null RFC 3339 time of the change */
    public $timestamp;

    /** @var array */
    public $data;

    final public function __construct(string $webhookId, string $type, ?string $timestamp, array $data)
    {
        $this->webhookId = $webhookId;
        $this->type = $type;
        $this->timestamp = $timestamp;
        $this->data = $data;
    }

    /** The subclass for `$type`; {@see UnknownEventReceived} for types newer than this package. */
    public static function fromDelivery(string $webhookId, string $type, ?string $timestamp, array $data): self
    {
        $class = self::CLASSES[$type] ?? UnknownEventReceived::class;

        return new $class($webhookId, $type, $timestamp, $data);
    }
}
