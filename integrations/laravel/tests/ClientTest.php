<?php

namespace Switchboard\Laravel\Tests;

use PHPUnit\Framework\TestCase;
use Switchboard\Laravel\Exceptions\ForbiddenException;
use Switchboard\Laravel\Exceptions\InvalidMessageIdException;
use Switchboard\Laravel\Exceptions\InvalidRequestException;
use Switchboard\Laravel\Exceptions\NotFoundException;
use Switchboard\Laravel\Exceptions\TransportException;
use Switchboard\Laravel\Exceptions\UnauthorizedException;
use Switchboard\Laravel\Exceptions\UnexpectedResponseException;
use Switchboard\Laravel\SwitchboardClient;
use Switchboard\Laravel\Tests\Support\LaravelApp;
use Switchboard\Laravel\Tests\Support\LocalServer;
use Switchboard\Laravel\Tests\Support\Service;
use Switchboard\Laravel\TokenMinter;

/** The platform routes, called through the package against the real service. */
final class ClientTest extends TestCase
{
    private function client(array $overrides = []): SwitchboardClient
    {
        return SwitchboardClient::fromConfig(array_merge([
            'url' => Service::url(),
            'jwt_secret' => Service::jwtSecret(),
            'connect_timeout_seconds' => 2,
            'timeout_seconds' => 5,
        ], $overrides));
    }

    /** A profile and a client the message tests can write to. */
    private function conversation(SwitchboardClient $client): array
    {
        $profileId = Service::freshId();
        $clientId = Service::freshId();
        $client->putProfile($profileId, "Profile {$profileId}");
        $client->putClient($clientId, "Client {$clientId}");

        return [$clientId, $profileId];
    }

    public function test_the_directory_routes_answer_what_they_stored(): void
    {
        $client = $this->client();
        $moderatorId = Service::freshId();
        $profileId = Service::freshId();
        $clientId = Service::freshId();

        $moderator = $client->putModerator($moderatorId, 'Ada');
        $profile = $client->putProfile($profileId, 'Lena', true);
        $person = $client->putClient($clientId, 'Marc');
        $inactive = $client->putProfile($profileId, 'Lena', false);

        $this->assertSame([$moderatorId, 'Ada', 'offline'], [$moderator['moderator_id'], $moderator['name'], $moderator['state']]);
        $this->assertSame([$profileId, 'Lena', true], [$profile['profile_id'], $profile['name'], $profile['active']]);
        $this->assertSame([$clientId, 'Marc'], [$person['client_id'], $person['name']]);
        $this->assertFalse($inactive['active']);
    }

    public function test_a_message_is_recorded_once_however_often_it_is_sent(): void
    {
        $client = $this->client();
        [$clientId, $profileId] = $this->conversation($client);
        $messageId = Service::freshId();

        $first = $client->sendMessage($messageId, $clientId, $profileId, 'Bonjour', new \DateTimeImmutable('2026-01-01T01:00:00+01:00'));
        $retry = $client->sendMessage($messageId, $clientId, $profileId, 'Bonjour');

        $this->assertSame($messageId, $first['message_id']);
        $this->assertFalse($first['duplicate']);
        $this->assertTrue($retry['duplicate']);
        $this->assertSame(1, $retry['conversation']['inbound_messages']);
        $this->assertStringStartsWith('2026-01-01T00:00:00', $first['conversation']['last_message']['sent_at']);
    }

    public function test_a_string_message_id_is_echoed_as_given_and_compared_exactly(): void
    {
        $client = $this->client();
        [$clientId, $profileId] = $this->conversation($client);
        $number = Service::freshId();
        $ulid = sprintf('01J%023d', $number);

        $asNumber = $client->sendMessage($number, $clientId, $profileId, 'Bonjour');
        $asString = $client->sendMessage((string) $number, $clientId, $profileId, 'Bonjour');
        $first = $client->sendMessage($ulid, $clientId, $profileId, 'Bonjour');
        $retry = $client->sendMessage($ulid, $clientId, $profileId, 'Bonjour');

        $this->assertSame($number, $asNumber['message_id']);
        $this->assertSame((string) $number, $asString['message_id'], 'a numeric string stays a string');
        $this->assertFalse($asString['duplicate'], 'the string "5" is another id than the integer 5');
        $this->assertSame($ulid, $first['message_id']);
        $this->assertFalse($first['duplicate']);
        $this->assertTrue($retry['duplicate']);
        $this->assertSame($ulid, $retry['conversation']['last_message']['message_id']);
        $this->assertSame(3, $retry['conversation']['inbound_messages']);
    }

    public function test_an_unknown_profile_is_an_invalid_request(): void
    {
        $client = $this->client();
        [$clientId] = $this->conversation($client);

        try {
            $client->sendMessage(Service::freshId(), $clientId, Service::freshId(), 'Bonjour');
            $this->fail('the message was accepted');
        } catch (InvalidRequestException $refusal) {
            $this->assertSame(422, $refusal->status());
            $this->assertSame('invalid_request', $refusal->errorCode());
            $this->assertStringContainsString('profile', $refusal->getMessage());
        }
    }

    public function test_a_token_signed_with_another_secret_is_unauthorized(): void
    {
        $this->expectException(UnauthorizedException::class);

        $this->client(['jwt_secret' => 'not-the-service-secret'])->putModerator(Service::freshId(), 'Ada');
    }

    public function test_a_moderator_token_may_not_call_platform_routes(): void
    {
        $moderatorToken = (new TokenMinter(Service::jwtSecret()))->moderator(Service::freshId(), 60);

        $this->expectException(ForbiddenException::class);

        $this->client(['jwt_secret' => null, 'platform_token' => $moderatorToken])->putModerator(Service::freshId(), 'Ada');
    }

    public function test_a_given_platform_token_is_used_as_is(): void
    {
        $platformToken = (new TokenMinter(Service::jwtSecret()))->platform(60);
        $moderatorId = Service::freshId();

        $moderator = $this->client(['jwt_secret' => null, 'platform_token' => $platformToken])->putModerator($moderatorId, 'Ada');

        $this->assertSame($moderatorId, $moderator['moderator_id']);
    }

    public function test_an_unknown_route_is_not_found(): void
    {
        $this->expectException(NotFoundException::class);

        $this->client()->send('GET', '/api/no-such-route');
    }

    public function test_a_malformed_message_id_is_refused_before_anything_is_sent(): void
    {
        // Nothing listens at this URL: a request would be a TransportException instead.
        $client = $this->client(['url' => 'http://127.0.0.1:'.self::closedPort()]);

        $this->expectException(InvalidMessageIdException::class);

        $client->sendMessage('two words', 1, 1, 'Bonjour');
    }

    public function test_no_service_at_the_url_is_a_transport_error(): void
    {
        $this->expectException(TransportException::class);

        $this->client(['url' => 'http://127.0.0.1:'.self::closedPort()])->putModerator(1, 'Ada');
    }

    public function test_a_service_that_never_answers_times_out_as_a_transport_error(): void
    {
        // A listening socket nobody reads: the connection opens, no answer ever comes.
        $server = stream_socket_server('tcp://127.0.0.1:0', $errorNumber, $errorText);
        $this->assertNotFalse($server, $errorText);
        $address = stream_socket_get_name($server, false);

        try {
            $this->client(['url' => "http://{$address}", 'timeout_seconds' => 0.5])->putModerator(1, 'Ada');
            $this->fail('a silent service answered');
        } catch (TransportException $failure) {
            $this->assertStringContainsString('no answer from Switchboard', $failure->getMessage());
        } finally {
            fclose($server);
        }
    }

    public function test_an_answer_outside_the_contract_is_an_unexpected_response(): void
    {
        $proxy = new LocalServer('broken-proxy.php');

        foreach (["{$proxy->url}/gateway" => 502, $proxy->url => 200] as $url => $status) {
            try {
                $this->client(['url' => $url])->putModerator(1, 'Ada');
                $this->fail("the answer of {$url} was taken for Switchboard's");
            } catch (UnexpectedResponseException $surprise) {
                $this->assertSame($status, $surprise->status());
            }
        }
    }

    public function test_the_facade_and_container_give_the_configured_client(): void
    {
        $app = LaravelApp::boot(['url' => Service::url(), 'jwt_secret' => Service::jwtSecret()]);
        $moderatorId = Service::freshId();

        $moderator = \Switchboard\Laravel\Facades\Switchboard::putModerator($moderatorId, 'Ada');

        $this->assertSame($moderatorId, $moderator['moderator_id']);
        $this->assertSame($app->make(SwitchboardClient::class), $app->make('switchboard'));
    }

    /** A port that was free a moment ago and that nothing listens on. */
    private static function closedPort(): int
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $port = (int) substr(strrchr(stream_socket_get_name($probe, false), ':'), 1);
        fclose($probe);

        return $port;
    }
}
