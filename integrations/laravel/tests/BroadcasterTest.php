<?php

namespace Switchboard\Laravel\Tests;

use GuzzleHttp\Client as Guzzle;
use Illuminate\Broadcasting\Channel;
use Illuminate\Broadcasting\PrivateChannel;
use Illuminate\Auth\GenericUser;
use Illuminate\Broadcasting\BroadcastManager;
use Illuminate\Broadcasting\BroadcastException;
use Illuminate\Http\Request;
use PHPUnit\Framework\TestCase;
use Switchboard\Laravel\Broadcasting\PusherSigner;
use Switchboard\Laravel\Broadcasting\SwitchboardBroadcaster;
use Switchboard\Laravel\Tests\Support\LaravelApp;
use Switchboard\Laravel\Tests\Support\LocalServer;
use Switchboard\Laravel\Tests\Support\Service;
use Switchboard\Laravel\TokenMinter;
use Symfony\Component\HttpKernel\Exception\AccessDeniedHttpException;

/**
 * The `switchboard` broadcast driver as a host configures it: the exact requests it
 * publishes, recorded by a stand-in, and its channel auth, compared with the real
 * service's own `/broadcasting/auth`. Publishing to the real service, and what a pusher-js
 * subscriber then receives, is `BroadcastEndToEndTest`.
 */
final class BroadcasterTest extends TestCase
{
    private function broadcaster(): SwitchboardBroadcaster
    {
        $app = LaravelApp::boot(['url' => Service::url(), 'pusher' => [
            'app_id' => '1',
            'key' => Service::pusherAppKey(),
            'secret' => Service::pusherAppSecret(),
        ]]);
        $broadcaster = $app->make(BroadcastManager::class)->connection('switchboard');
        $this->assertInstanceOf(SwitchboardBroadcaster::class, $broadcaster);

        return $broadcaster;
    }

    private static function authRequest(string $channel, ?GenericUser $user): Request
    {
        $request = Request::create('/broadcasting/auth', 'POST', ['socket_id' => '123.456', 'channel_name' => $channel]);
        $request->setUserResolver(static function () use ($user) {
            return $user;
        });

        return $request;
    }

    public function test_the_host_signs_channel_auth_exactly_as_switchboard_does(): void
    {
        // Switchboard answers a supervisor for private-supervisors; the host's driver,
        // holding the same app secret, must produce the very same string.
        $answer = (new Guzzle(['timeout' => 5]))->post(Service::url().'/broadcasting/auth', [
            'headers' => ['Authorization' => 'Bearer '.(new TokenMinter(Service::jwtSecret()))->supervisor(60)],
            'form_params' => ['socket_id' => '123.456', 'channel_name' => 'private-supervisors'],
        ]);
        $broadcaster = $this->broadcaster();
        $broadcaster->channel('supervisors', static function () {
            return true;
        });
        $request = self::authRequest('private-supervisors', new GenericUser(['id' => 1]));

        $response = $broadcaster->auth($request);

        $this->assertSame(json_decode((string) $answer->getBody(), true), $response);
    }

    public function test_a_channel_the_user_may_not_join_is_refused(): void
    {
        $broadcaster = $this->broadcaster();
        $broadcaster->channel('orders.{orderId}', static function (GenericUser $user, string $orderId) {
            return (int) $orderId === 5;
        });

        $allowed = self::authRequest('private-orders.5', new GenericUser(['id' => 1]));
        $this->assertArrayHasKey('auth', $broadcaster->auth($allowed));

        $this->expectException(AccessDeniedHttpException::class);
        $broadcaster->auth(self::authRequest('private-orders.6', new GenericUser(['id' => 1])));
    }

    public function test_a_guest_is_refused_a_private_channel(): void
    {
        $broadcaster = $this->broadcaster();
        $broadcaster->channel('orders.{orderId}', static function () {
            return true;
        });

        $this->expectException(AccessDeniedHttpException::class);
        $broadcaster->auth(self::authRequest('private-orders.5', null));
    }

    public function test_a_malformed_socket_id_is_refused(): void
    {
        $broadcaster = $this->broadcaster();
        $broadcaster->channel('orders.{orderId}', static function () {
            return true;
        });
        $request = self::authRequest('private-orders.5', new GenericUser(['id' => 1]));
        $request->merge(['socket_id' => '123.456:private-supervisors']);

        $this->expectException(AccessDeniedHttpException::class);
        $broadcaster->auth($request);
    }

    public function test_presence_auth_signs_the_member_data_it_returns(): void
    {
        $broadcaster = $this->broadcaster();
        $broadcaster->channel('room.{roomId}', static function (GenericUser $user) {
            return ['name' => 'Ada'];
        });
        $request = self::authRequest('presence-room.1', new GenericUser(['id' => 42]));

        $response = $broadcaster->auth($request);

        $this->assertSame('{"user_id":42,"user_info":{"name":"Ada"}}', $response['channel_data']);
        $expected = hash_hmac('sha256', '123.456:presence-room.1:'.$response['channel_data'], Service::pusherAppSecret());
        $this->assertSame(Service::pusherAppKey().':'.$expected, $response['auth']);
    }

    public function test_a_missing_app_secret_is_a_configuration_error(): void
    {
        $app = LaravelApp::boot(['url' => Service::url(), 'pusher' => ['app_id' => '1', 'key' => 'key', 'secret' => null]]);

        $this->expectException(\Switchboard\Laravel\Exceptions\ConfigurationException::class);
        $this->expectExceptionMessage('SWITCHBOARD_PUSHER_APP_SECRET');
        $app->make(BroadcastManager::class)->connection('switchboard');
    }

    public function test_a_publish_is_one_signed_pusher_events_request_per_hundred_channels(): void
    {
        $receiver = new LocalServer();
        $app = LaravelApp::boot(['url' => $receiver->url, 'pusher' => ['app_id' => '42', 'key' => 'the-key', 'secret' => 'the-secret']]);
        $channels = array_merge([new PrivateChannel('orders.5')], array_map(static function (int $i): Channel {
            return new Channel("news.{$i}");
        }, range(1, 100)));

        $app->make(BroadcastManager::class)->connection('switchboard')
            ->broadcast($channels, 'OrderShipped', ['order_id' => 5, 'note' => 'café', 'socket' => '123.456']);

        $requests = $receiver->requests();
        $this->assertCount(2, $requests);
        $signer = new PusherSigner('the-key', 'the-secret');
        $published = [];
        foreach ($requests as $request) {
            $this->assertSame(['POST', '/apps/42/events'], [$request['method'], $request['path']]);
            $body = json_decode($request['body'], true);
            $this->assertSame(['name' => 'OrderShipped', 'data' => '{"order_id":5,"note":"café"}', 'socket_id' => '123.456'], array_diff_key($body, ['channels' => 0]));
            $query = $request['query'];
            $unsigned = array_diff_key($query, ['auth_signature' => 0, 'auth_key' => 0, 'auth_timestamp' => 0, 'auth_version' => 0, 'body_md5' => 0]);
            $this->assertSame([], $unsigned);
            $this->assertSame($signer->signRequest('POST', '/apps/42/events', [], $request['body'], (int) $query['auth_timestamp']), $query);
            $published = array_merge($published, $body['channels']);
        }
        $this->assertCount(100, json_decode($requests[0]['body'], true)['channels']);
        $this->assertSame(array_merge(['private-orders.5'], array_map(static function (int $i): string {
            return "news.{$i}";
        }, range(1, 100))), $published);
    }

    public function test_a_publish_nobody_answers_is_a_broadcast_exception(): void
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $address = stream_socket_get_name($probe, false);
        fclose($probe);
        $app = LaravelApp::boot(['url' => "http://{$address}", 'pusher' => ['app_id' => '1', 'key' => 'key', 'secret' => 'secret']]);

        $this->expectException(BroadcastException::class);
        $app->make(BroadcastManager::class)->connection('switchboard')->broadcast(['orders.5'], 'OrderShipped', ['order_id' => 5]);
    }
}
