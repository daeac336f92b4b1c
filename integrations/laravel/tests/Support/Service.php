<?php

namespace Switchboard\Laravel\Tests\Support;

use PHPUnit\Framework\Assert;

/**
 * What the Rust wrapper (`crates/server/tests/laravel.rs`) hands the suite through the
 * environment: the running service's URL and secrets, and the path of the webhook
 * fixtures the npm `standardwebhooks` library signed. A missing variable fails the test
 * with the variable's name: the suite never skips.
 */
final class Service
{
    public static function url(): string
    {
        return self::required('SWITCHBOARD_URL');
    }

    public static function jwtSecret(): string
    {
        return self::required('SWITCHBOARD_JWT_SECRET');
    }

    public static function pusherAppId(): string
    {
        return self::required('SWITCHBOARD_PUSHER_APP_ID');
    }

    public static function pusherAppKey(): string
    {
        return self::required('SWITCHBOARD_PUSHER_APP_KEY');
    }

    public static function pusherAppSecret(): string
    {
        return self::required('SWITCHBOARD_PUSHER_APP_SECRET');
    }

    /** @return array{secret: string, tolerance_seconds: int, cases: array, events: array} */
    public static function webhookFixtures(): array
    {
        $path = self::required('SWITCHBOARD_WEBHOOK_FIXTURES');
        $fixtures = json_decode((string) @file_get_contents($path), true);
        Assert::assertIsArray($fixtures, "SWITCHBOARD_WEBHOOK_FIXTURES={$path} is not the JSON that crates/server/tests/laravel/sign.mjs prints");

        return $fixtures;
    }

    /** An id no other test of this run uses, so tests may share one service in any order. */
    public static function freshId(): int
    {
        static $last = 1000;

        return ++$last;
    }

    private static function required(string $name): string
    {
        $value = getenv($name);
        if ($value === false || $value === '') {
            Assert::fail("{$name} is not set: run the suite through `cargo test -p switchboard --test laravel`, which starts the service and sets it.");
        }

        return $value;
    }
}
