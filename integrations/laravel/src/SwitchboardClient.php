<?php

namespace Switchboard\Laravel;

use DateTimeImmutable;
use DateTimeInterface;
use DateTimeZone;
use GuzzleHttp\Client as Guzzle;
use GuzzleHttp\ClientInterface;
use GuzzleHttp\Exception\GuzzleException;
use Switchboard\Laravel\Exceptions\ApiException;
use Switchboard\Laravel\Exceptions\ConfigurationException;
use Switchboard\Laravel\Exceptions\SwitchboardException;
use Switchboard\Laravel\Exceptions\TransportException;
use Switchboard\Laravel\Exceptions\UnexpectedResponseException;

/**
 * The host platform's side of Switchboard's API: keeping the directory of moderators,
 * profiles and clients in step, recording inbound client messages, and minting moderator
 * tokens for the host's own pages.
 *
 * Every failure surfaces as a {@see SwitchboardException}: one {@see ApiException}
 * subclass per documented error code, {@see TransportException} when nothing answered,
 * {@see UnexpectedResponseException} for answers outside the contract.
 */
class SwitchboardClient
{
    /** @var ClientInterface */
    private $http;

    /** @var string */
    private $baseUrl;

    /** @var string|null */
    private $platformToken;

    /** @var TokenMinter|null */
    private $minter;

    /** @var int */
    private $platformTokenTtlSeconds;

    /** @var int */
    private $moderatorTokenTtlSeconds;

    public function __construct(
        ClientInterface $http,
        string $baseUrl,
        ?string $platformToken,
        ?TokenMinter $minter,
        int $platformTokenTtlSeconds = 300,
        int $moderatorTokenTtlSeconds = 43200
    ) {
        if ($baseUrl === '') {
            throw new ConfigurationException('switchboard.url is empty: set SWITCHBOARD_URL to the service\'s base URL.');
        }
        if (($platformToken === null || $platformToken === '') && $minter === null) {
            throw new ConfigurationException('Switchboard needs SWITCHBOARD_PLATFORM_TOKEN or SWITCHBOARD_JWT_SECRET to call the platform routes.');
        }
        $this->http = $http;
        $this->baseUrl = rtrim($baseUrl, '/');
        $this->platformToken = $platformToken === '' ? null : $platformToken;
        $this->minter = $minter;
        $this->platformTokenTtlSeconds = $platformTokenTtlSeconds;
        $this->moderatorTokenTtlSeconds = $moderatorTokenTtlSeconds;
    }

    /** The client `config/switchboard.php` describes. */
    public static function fromConfig(array $config, ?ClientInterface $http = null): self
    {
        $secret = $config['jwt_secret'] ?? null;

        return new self(
            $http ?? new Guzzle([
                'connect_timeout' => (float) ($config['connect_timeout_seconds'] ?? 2),
                'timeout' => (float) ($config['timeout_seconds'] ?? 5),
            ]),
            (string) ($config['url'] ?? ''),
            $config['platform_token'] ?? null,
            $secret === null || $secret === '' ? null : new TokenMinter($secret),
            (int) ($config['platform_token_ttl_seconds'] ?? 300),
            (int) ($config['moderator_token_ttl_seconds'] ?? 43200)
        );
    }

    /** Creates or renames moderator `$id`; answers the moderator. */
    public function putModerator(int $id, string $name): array
    {
        return $this->send('PUT', "/api/moderators/{$id}", ['name' => $name]);
    }

    /** Creates or updates profile `$id`; `$active = false` frees it. Answers the profile. */
    public function putProfile(int $id, string $name, bool $active = true): array
    {
        return $this->send('PUT', "/api/profiles/{$id}", ['name' => $name, 'active' => $active]);
    }

    /** Creates or renames client `$id`; answers the client. */
    public function putClient(int $id, string $name): array
    {
        return $this->send('PUT', "/api/clients/{$id}", ['name' => $name]);
    }

    /**
     * Records an inbound client message. Idempotent on `$messageId` (an int or a string,
     * sent as given): a retry answers `duplicate: true` and changes nothing, so after a
     * {@see TransportException} the same call may simply be repeated.
     *
     * @param  int|string  $messageId
     * @return array{message_id: int|string, conversation: array, duplicate: bool}
     */
    public function sendMessage($messageId, int $clientId, int $profileId, string $body, ?DateTimeInterface $sentAt = null): array
    {
        $payload = [
            'message_id' => MessageId::parse($messageId)->value(),
            'client_id' => $clientId,
            'profile_id' => $profileId,
            'body' => $body,
        ];
        if ($sentAt !== null) {
            $payload['sent_at'] = DateTimeImmutable::createFromInterface($sentAt)
                ->setTimezone(new DateTimeZone('UTC'))
                ->format('Y-m-d\TH:i:s\Z');
        }

        return $this->send('POST', '/api/messages', $payload);
    }

    /** A token the console can act as moderator `$moderatorId` with. */
    public function moderatorToken(int $moderatorId, ?int $ttlSeconds = null): string
    {
        return $this->requireMinter()->moderator($moderatorId, $ttlSeconds ?? $this->moderatorTokenTtlSeconds);
    }

    /** The minter, for supervisor tokens and custom lifetimes. */
    public function tokens(): TokenMinter
    {
        return $this->requireMinter();
    }

    /**
     * One call with the platform token; the decoded JSON answer.
     *
     * @throws SwitchboardException
     */
    public function send(string $method, string $path, ?array $body = null): array
    {
        $options = [
            'http_errors' => false,
            'headers' => [
                'Accept' => 'application/json',
                'Authorization' => 'Bearer '.$this->platformToken(),
            ],
        ];
        if ($body !== null) {
            $options['json'] = $body;
        }
        try {
            $response = $this->http->request($method, $this->baseUrl.$path, $options);
            $text = (string) $response->getBody();
        } catch (GuzzleException $error) {
            throw new TransportException("{$method} {$path}: no answer from Switchboard at {$this->baseUrl}: {$error->getMessage()}", 0, $error);
        }
        $status = $response->getStatusCode();
        if ($status < 200 || $status >= 300) {
            throw ApiException::fromAnswer($status, $text)
                ?? new UnexpectedResponseException($status, $text, 'not an error this package knows');
        }
        $decoded = json_decode($text, true);
        if (! is_array($decoded)) {
            throw new UnexpectedResponseException($status, $text, 'the body is not a JSON object');
        }

        return $decoded;
    }

    private function platformToken(): string
    {
        // Minted per call: an HMAC is cheaper than tracking expiry, and never goes stale.
        return $this->platformToken ?? $this->requireMinter()->platform($this->platformTokenTtlSeconds);
    }

    private function requireMinter(): TokenMinter
    {
        if ($this->minter === null) {
            throw new ConfigurationException('Minting tokens needs SWITCHBOARD_JWT_SECRET, the service\'s jwt_secret.');
        }

        return $this->minter;
    }
}
