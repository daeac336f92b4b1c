<?php

namespace Switchboard\Laravel\Tests;

use GuzzleHttp\Client as Guzzle;
use PHPUnit\Framework\TestCase;
use Switchboard\Laravel\SwitchboardClient;
use Switchboard\Laravel\Tests\Support\Service;
use Switchboard\Laravel\TokenMinter;

/** Tokens the package mints are the tokens the real service accepts, and only those. */
final class TokenTest extends TestCase
{
    /** The status the service answers a moderator route with, for `$token`. */
    private static function statusWith(string $token): int
    {
        $response = (new Guzzle(['timeout' => 5]))->get(Service::url().'/moderateur/status', [
            'http_errors' => false,
            'headers' => ['Authorization' => "Bearer {$token}"],
        ]);

        return $response->getStatusCode();
    }

    private static function registeredModerator(): int
    {
        $id = Service::freshId();
        SwitchboardClient::fromConfig(['url' => Service::url(), 'jwt_secret' => Service::jwtSecret()])->putModerator($id, 'Ada');

        return $id;
    }

    public function test_a_minted_moderator_token_acts_as_that_moderator(): void
    {
        $id = self::registeredModerator();
        $client = SwitchboardClient::fromConfig(['url' => Service::url(), 'jwt_secret' => Service::jwtSecret()]);

        $response = (new Guzzle(['timeout' => 5]))->get(Service::url().'/moderateur/status', [
            'headers' => ['Authorization' => 'Bearer '.$client->moderatorToken($id, 60)],
        ]);

        $this->assertSame($id, json_decode((string) $response->getBody(), true)['moderator_id']);
    }

    public function test_an_expired_token_is_refused(): void
    {
        $id = self::registeredModerator();
        // Expired a minute ago: beyond the service's few seconds of tolerated clock skew.
        $expired = (new TokenMinter(Service::jwtSecret()))->moderator($id, -60);

        $this->assertSame(401, self::statusWith($expired));
    }

    public function test_a_token_signed_with_another_secret_is_refused(): void
    {
        $id = self::registeredModerator();
        $forged = (new TokenMinter(Service::jwtSecret().'-but-not-quite'))->moderator($id, 60);

        $this->assertSame(401, self::statusWith($forged));
    }

    public function test_the_claims_are_the_contract_s(): void
    {
        $token = (new TokenMinter('secret', static function (): int {
            return 1767225600;
        }))->moderator(7, 3600);

        [$header, $claims, $signature] = explode('.', $token);
        $decode = static function (string $part): array {
            return json_decode(base64_decode(strtr($part, '-_', '+/')), true);
        };

        $this->assertSame(['alg' => 'HS256', 'typ' => 'JWT'], $decode($header));
        $this->assertSame(['sub' => '7', 'role' => 'moderator', 'exp' => 1767229200], $decode($claims));
        $this->assertStringNotContainsString('=', $signature);
    }

    public function test_platform_and_supervisor_tokens_carry_no_subject(): void
    {
        $minter = new TokenMinter('secret');
        foreach (['platform' => $minter->platform(60), 'supervisor' => $minter->supervisor(60)] as $role => $token) {
            $claims = json_decode(base64_decode(strtr(explode('.', $token)[1], '-_', '+/')), true);
            $this->assertSame($role, $claims['role']);
            $this->assertArrayNotHasKey('sub', $claims);
        }
    }

    public function test_a_supervisor_token_reads_supervisor_routes(): void
    {
        $response = (new Guzzle(['timeout' => 5]))->get(Service::url().'/api/supervisor/state', [
            'http_errors' => false,
            'headers' => ['Authorization' => 'Bearer '.(new TokenMinter(Service::jwtSecret()))->supervisor(60)],
        ]);

        $this->assertSame(200, $response->getStatusCode());
    }
}
