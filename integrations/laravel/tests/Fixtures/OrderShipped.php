<?php

namespace App\Events;

use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Contracts\Broadcasting\ShouldBroadcastNow;

/**
 * A host application's event, written as in any Laravel 8 app (in `App\Events`, where
 * Echo's default namespace looks): broadcast on `private-{channel}` with its public
 * properties as the data. `ShouldBroadcastNow`, so the test's process publishes it itself
 * (with `ShouldBroadcast` a queue worker would make the same call).
 */
class OrderShipped implements ShouldBroadcastNow
{
    /** @var int */
    public $orderId;

    /** @var string */
    public $note;

    /** @var string */
    private $channel;

    public function __construct(int $orderId, string $note, string $channel)
    {
        $this->orderId = $orderId;
        $this->note = $note;
        $this->channel = $channel;
    }

    public function broadcastOn()
    {
        return new PrivateChannel($this->channel);
    }
}
