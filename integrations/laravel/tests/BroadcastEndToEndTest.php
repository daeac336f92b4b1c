<?php

namespace Switchboard\Laravel\Tests;

use App\Events\OrderShipped;
use Illuminate\Broadcasting\BroadcastException;
use Illuminate\Bus\BusServiceProvider;
use Illuminate\Foundation\Application;
use PHPUnit\Framework\TestCase;
use Switchboard\Laravel\Broadcasting\PublishRefusedException;
use Switchboard\Laravel\Tests\Support\LaravelApp;
use Switchboard\Laravel\Tests\Support\Service;

require_once __DIR__.'/Fixtures/OrderShipped.php';

/**
 * Laravel's broadcaster, on the package's `switchboard` driver, publishing through the real
 * service's Pusher HTTP API, the way a host's code does it: `event(new OrderShipped(...))`.
 *
 * Run by `crates/server/tests/laravel.rs` (test
 * `a_laravel_broadcast_reaches_a_pusher_js_subscriber`) once a pusher-js subscriber,
 * authorised by the host's `/broadcasting/auth` (Support/broadcasting-auth.php), is on
 * `private-orders.5`: the Rust test then checks that the subscriber received exactly the
 * one event published here, with its name and data; the refused ones come first, so one of
 * them published by mistake would arrive before it.
 *
 * @group end-to-end
 */
final class BroadcastEndToEndTest extends TestCase
{
    /** The subscriber's channel, as `Echo.private('orders.5')` names it. */
    private const CHANNEL = 'orders.5';

    private static function host(): Application
    {
        $app = LaravelApp::boot(['url' => Service::url(), 'pusher' => [
            'app_id' => Service::pusherAppId(),
            'key' => Service::pusherAppKey(),
            'secret' => Service::pusherAppSecret(),
        ]]);
        // What `event()` needs for a ShouldBroadcastNow event: Laravel's command bus.
        $app->register(BusServiceProvider::class);

        return $app;
    }

    /** @return PublishRefusedException what broadcasting `$event` threw */
    private static function refusal(OrderShipped $event): PublishRefusedException
    {
        try {
            self::host()['events']->dispatch($event);
        } catch (PublishRefusedException $refused) {
            return $refused;
        }
        self::fail('Switchboard published an event it must refuse');
    }

    public function test_data_over_ten_kibibytes_is_refused_with_413(): void
    {
        $refused = self::refusal(new OrderShipped(5, str_repeat('x', 10 * 1024), self::CHANNEL));

        $this->assertInstanceOf(BroadcastException::class, $refused, 'hosts that catch Laravel\'s BroadcastException still do');
        $this->assertSame(413, $refused->status());
        $this->assertStringContainsString('more than the 10240 allowed', $refused->reason());
        $this->assertStringStartsWith('Switchboard refused to publish App\Events\OrderShipped on private-orders.5 with 413: ', $refused->getMessage());
        $this->assertStringContainsString('pusher_max_event_bytes', $refused->getMessage());
    }

    public function test_switchboards_own_channels_are_refused_with_403(): void
    {
        foreach (['moderator.1', 'profile.10', 'supervisors'] as $channel) {
            $refused = self::refusal(new OrderShipped(5, 'forged', $channel));

            $this->assertSame(403, $refused->status(), $channel);
            $this->assertStringContainsString("private-{$channel} is reserved", $refused->reason());
            $this->assertStringContainsString("on private-{$channel} with 403", $refused->getMessage());
            $this->assertStringContainsString('accept no publish from the host', $refused->getMessage());
        }
    }

    public function test_a_laravel_event_reaches_the_pusher_js_subscriber(): void
    {
        // Returns once Switchboard accepted it (200): the Rust test waits for its arrival.
        self::host()['events']->dispatch(new OrderShipped(5, 'Shipped with café ☕ & <care>', self::CHANNEL));

        $this->addToAssertionCount(1);
    }
}
