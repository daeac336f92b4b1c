<?php

namespace Switchboard\Laravel;

use Closure;
use InvalidArgumentException;
use Switchboard\Laravel\Exceptions\ConfigurationException;

/**
 * Mints the bearer tokens Switchboard verifies: HS256 JWTs signed with the service's
 * `jwt_secret`, claims `sub` (the moderator id as a string, moderators only), `role` and
 * `exp` (API.md "Auth"). The host's own pages hand a moderator token to the console.
 */
class TokenMinter
{
    public const ROLES = ['moderator', 'platform', 'supervisor'];

    /** @var string */
    private $secret;

    /** @var Closure(): int the Unix time in seconds; injected so tests control expiry */
    private $clock;

    public function __construct(string $secret, ?Closure $clock = null)
    {
        if ($secret === '') {
            throw new ConfigurationException('switchboard.jwt_secret is empty: set SWITCHBOARD_JWT_SECRET to the service\'s jwt_secret.');
        }
        $this->secret = $secret;
        $this->clock = $clock ?? static function (): int {
            return time();
        };
    }

    /** A token for moderator `$moderatorId`, valid for `$ttlSeconds` from now. */
    public function moderator(int $moderatorId, int $ttlSeconds): string
    {
        if ($moderatorId < 1) {
            throw new InvalidArgumentException("A moderator id is a positive integer, not {$moderatorId}.");
        }

        return $this->mint('moderator', (string) $moderatorId, $ttlSeconds);
    }

    public function platform(int $ttlSeconds): string
    {
        return $this->mint('platform', null, $ttlSeconds);
    }

    public function supervisor(int $ttlSeconds): string
    {
        return $this->mint('supervisor', null, $ttlSeconds);
    }

    /**
     * Any role. A negative `$ttlSeconds` yields an already expired token (tests use that).
     */
    public function mint(string $role, ?string $subject, int $ttlSeconds): string
    {
        if (! in_array($role, self::ROLES, true)) {
            throw new InvalidArgumentException("Unknown role {$role}: Switchboard knows ".implode(', ', self::ROLES).'.');
        }
        $claims = $subject === null ? [] : ['sub' => $subject];
        $claims['role'] = $role;
        $claims['exp'] = ($this->clock)() + $ttlSeconds;

        $signingInput = self::base64Url(self::json(['alg' => 'HS256', 'typ' => 'JWT'])).'.'.self::base64Url(self::json($claims));

        return $signingInput.'.'.self::base64Url(hash_hmac('sha256', $signingInput, $this->secret, true));
    }

    private static function json(array $value): string
    {
        return json_encode($value, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
    }

    /** RFC 7515's base64url without padding, which JWT requires. */
    private static function base64Url(string $bytes): string
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }
}
