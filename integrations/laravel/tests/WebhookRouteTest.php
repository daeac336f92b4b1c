<?php

namespace Switchboard\Laravel\Tests;

use Illuminate\Foundation\Application;
use Illuminate\Contracts\Http\Kernel as HttpKernel;
use Illuminate\Http\Request;
use PHPUnit\Framework\TestCase;
use Switchboard\Laravel\Events;
use Switchboard\Laravel\Events\SwitchboardEvent;
use Switchboard\Laravel\Tests\Support\LaravelApp;
use Switchboard\Laravel\Tests\Support\Service;
use Switchboard\Laravel\Webhooks\WebhookVerifier;

/**
 * The package's webhook route in a booted Laravel application: signed deliveries become
 * the Laravel event of their type, anything unsigned or malformed is refused before any
 * listener runs.
 */
final class WebhookRouteTest extends TestCase
{
    /** @var Application */
    private $app;

    /** @var SwitchboardEvent[] */
    private $heard = [];

    private function boot(int $nowSeconds, string $path = 'switchboard/webhook'): void
    {
        $fixtures = Service::webhookFixtures();
        $this->app = LaravelApp::boot(['webhook' => ['secret' => $fixtures['secret'], 'path' => $path]]);
        $this->app->instance(WebhookVerifier::class, new WebhookVerifier($fixtures['secret'], 300, static function () use ($nowSeconds): int {
            return $nowSeconds;
        }));
        $this->heard = [];
        // Laravel matches listeners by class and interface, not parent class: a wildcard
        // hears every event of the package.
        $this->app['events']->listen('Switchboard\\Laravel\\Events\\*', function (string $name, array $payload): void {
            $this->heard[] = $payload[0];
        });
    }

    private function deliver(array $delivery, string $path = '/switchboard/webhook'): int
    {
        $server = [];
        foreach ($delivery['headers'] as $name => $value) {
            $server['HTTP_'.strtoupper(str_replace('-', '_', $name))] = $value;
        }
        $server['CONTENT_TYPE'] = 'application/json';
        $server['HTTP_ACCEPT'] = 'application/json';
        $request = Request::create($path, 'POST', [], [], [], $server, $delivery['body']);

        return $this->app->make(HttpKernel::class)->handle($request)->getStatusCode();
    }

    public function test_each_type_becomes_its_laravel_event(): void
    {
        $expected = [
            'message.sent' => Events\MessageSent::class,
            'conversation.assigned' => Events\ConversationAssigned::class,
            'conversation.released' => Events\ConversationReleased::class,
            'profile.assigned' => Events\ProfileAssigned::class,
            'profile.unassigned' => Events\ProfileUnassigned::class,
            'moderator.state_changed' => Events\ModeratorStateChanged::class,
            'alert.raised' => Events\AlertRaised::class,
            'conflict.resolved' => Events\ConflictResolved::class,
            'something.new' => Events\UnknownEventReceived::class,
        ];
        $deliveries = Service::webhookFixtures()['events'];
        $this->assertSame(array_keys($expected), array_column($deliveries, 'type'));

        foreach ($deliveries as $delivery) {
            $this->boot($delivery['now']);

            $this->assertSame(204, $this->deliver($delivery), $delivery['type']);

            $this->assertCount(1, $this->heard, $delivery['type']);
            $event = $this->heard[0];
            $this->assertInstanceOf($expected[$delivery['type']], $event);
            $this->assertSame($delivery['headers']['webhook-id'], $event->webhookId);
            $this->assertSame($delivery['type'], $event->type);
            $this->assertSame(json_decode($delivery['body'], true)['data'], $event->data);
        }
    }

    public function test_a_reply_carries_what_the_host_delivers(): void
    {
        $delivery = Service::webhookFixtures()['events'][0];
        $this->boot($delivery['now']);
        $replies = [];
        $this->app['events']->listen(Events\MessageSent::class, static function (Events\MessageSent $event) use (&$replies): void {
            $replies[] = $event;
        });

        $this->deliver($delivery);

        $this->assertCount(1, $replies);
        $reply = $replies[0];
        $this->assertSame(['01JH2Z6Q4X8ZV4N5R7T9W1Y3B5', 100, 10, 7, 'Bonjour, comment allez-vous ?'], [
            $reply->messageId(), $reply->clientId(), $reply->profileId(), $reply->moderatorId(), $reply->body(),
        ]);
    }

    public function test_refused_deliveries_reach_no_listener(): void
    {
        foreach (Service::webhookFixtures()['cases'] as $case) {
            if ($case['valid']) {
                continue;
            }
            $this->boot($case['now']);

            $this->assertSame(401, $this->deliver($case), $case['name']);
            $this->assertSame([], $this->heard, $case['name']);
        }
    }

    public function test_a_signed_body_that_is_not_a_delivery_is_a_bad_request(): void
    {
        $malformed = Service::webhookFixtures()['malformed'];
        $this->boot($malformed['now']);

        $this->assertSame(400, $this->deliver($malformed));
        $this->assertSame([], $this->heard);
    }

    public function test_a_listener_that_fails_makes_switchboard_deliver_again(): void
    {
        // Any non-2xx answer is retried with the same webhook-id (API.md v2).
        $delivery = Service::webhookFixtures()['events'][0];
        $this->boot($delivery['now']);
        $this->app['events']->listen(Events\MessageSent::class, static function (): void {
            throw new \RuntimeException('the host could not deliver the reply yet');
        });

        $this->assertSame(500, $this->deliver($delivery));
    }

    public function test_the_route_follows_the_configured_path(): void
    {
        $delivery = Service::webhookFixtures()['events'][0];
        $this->boot($delivery['now'], 'hooks/switchboard');

        $this->assertSame(204, $this->deliver($delivery, '/hooks/switchboard'));
        // The host's RouteServiceProvider refreshes name lookups once every provider booted.
        $this->app['router']->getRoutes()->refreshNameLookups();
        $this->assertTrue($this->app['router']->has('switchboard.webhook'));
    }

    public function test_the_middleware_guards_a_route_of_the_host_s_own(): void
    {
        $delivery = Service::webhookFixtures()['cases'][0];
        $this->boot($delivery['now'], '');
        $this->app['router']->getRoutes()->refreshNameLookups();
        $this->assertFalse($this->app['router']->has('switchboard.webhook'));
        $this->app['router']->post('/own', static function () {
            return 'reached';
        })->middleware('switchboard.webhook');

        $this->assertSame(200, $this->deliver($delivery, '/own'));
        $tampered = $delivery;
        $tampered['body'] .= ' ';
        $this->assertSame(401, $this->deliver($tampered, '/own'));
    }
}
