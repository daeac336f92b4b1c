<?php

namespace Switchboard\Laravel\Broadcasting;

/**
 * Pusher's two signatures, made with the app secret Switchboard serves: the HTTP API's
 * request signature (`auth_key`, `auth_timestamp`, `auth_version=1.0`, `body_md5`, and the
 * hex HMAC-SHA256 of `METHOD\nPATH\nsorted query`) and the private/presence channel auth
 * string (`key:hex HMAC-SHA256("socket_id:channel[:channel_data]")`).
 */
class PusherSigner
{
    /** @var string */
    private $appKey;

    /** @var string */
    private $appSecret;

    public function __construct(string $appKey, string $appSecret)
    {
        $this->appKey = $appKey;
        $this->appSecret = $appSecret;
    }

    public function appKey(): string
    {
        return $this->appKey;
    }

    /**
     * The query string parameters that authenticate a request, `auth_signature` included.
     *
     * @param  array<string, string|int>  $query  the request's own parameters, if any
     * @return array<string, string>
     */
    public function signRequest(string $method, string $path, array $query, string $body, int $timestampSeconds): array
    {
        $parameters = [];
        foreach ($query as $name => $value) {
            $parameters[strtolower((string) $name)] = (string) $value;
        }
        $parameters['auth_key'] = $this->appKey;
        $parameters['auth_timestamp'] = (string) $timestampSeconds;
        $parameters['auth_version'] = '1.0';
        if ($body !== '') {
            $parameters['body_md5'] = md5($body);
        }
        ksort($parameters, SORT_STRING);
        // Pusher signs the parameters joined as in a query string but not URL-escaped.
        $joined = implode('&', array_map(static function (string $name, string $value): string {
            return "{$name}={$value}";
        }, array_keys($parameters), $parameters));
        $parameters['auth_signature'] = hash_hmac('sha256', strtoupper($method)."\n{$path}\n{$joined}", $this->appSecret);

        return $parameters;
    }

    /** The `auth` value of a `/broadcasting/auth` answer. */
    public function channelAuth(string $socketId, string $channelName, ?string $channelData = null): string
    {
        $signed = $channelData === null ? "{$socketId}:{$channelName}" : "{$socketId}:{$channelName}:{$channelData}";

        return $this->appKey.':'.hash_hmac('sha256', $signed, $this->appSecret);
    }
}
