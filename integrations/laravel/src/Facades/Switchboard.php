<?php

namespace Switchboard\Laravel\Facades;

use Illuminate\Support\Facades\Facade;
use Switchboard\Laravel\SwitchboardClient;

/**
 * `Switchboard::sendMessage(...)`, `Switchboard::moderatorToken(7)`: the application's
 * {@see SwitchboardClient}.
 *
 * @method static array putModerator(int $id, string $name)
 * @method static array putProfile(int $id, string $name, bool $active = true)
 * @method static array putClient(int $id, string $name)
 * @method static array sendMessage(int|string $messageId, int $clientId, int $profileId, string $body, ?\DateTimeInterface $sentAt = null)
 * @method static string moderatorToken(int $moderatorId, ?int $ttlSeconds = null)
 * @method static \Switchboard\Laravel\TokenMinter tokens()
 */
class Switchboard extends Facade
{
    protected static function getFacadeAccessor()
    {
        return SwitchboardClient::class;
    }
}
