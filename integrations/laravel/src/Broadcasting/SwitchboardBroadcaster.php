<?php

namespace Switchboard\Laravel\Broadcasting;

use Closure;
use GuzzleHttp\ClientInterface;
use GuzzleHttp\Exception\GuzzleException;
use Illuminate\Broadcasting\BroadcastException;
use Illuminate\Broadcasting\Broadcasters\Broadcaster;
use Illuminate\Broadcasting\Broadcasters\UsePusherChannelConventions;
use Illuminate\Support\Arr;
use Illuminate\Support\Str;
use Symfony\Component\HttpKernel\Exception\AccessDeniedHttpException;

/**
 * The `switchboard` broadcast driver: Laravel's Pusher driver without the Pusher SDK,
 * publishing through Switchboard's Pusher HTTP API (`POST /apps/{app_id}/events`) and
 * answering the host's own `/broadcasting/auth` with signatures Switchboard's socket
 * server accepts, so the host runs no other socket server.
 */
class SwitchboardBroadcaster extends Broadcaster
{
    use UsePusherChannelConventions;

    /** Pusher's limit on channels per publish; more are sent in several requests. */
    public const CHANNELS_PER_REQUEST = 100;

    private const SOCKET_ID = '/\A[0-9]+\.[0-9]+\z/';

    private const CHANNEL_NAME = '/\A[-a-zA-Z0-9_=@,.;]{1,200}\z/';

    /** @var ClientInterface */
    private $http;

    /** @var string */
    private $baseUrl;

    /** @var string */
    private $appId;

    /** @var PusherSigner */
    private $signer;

    /** @var Closure(): int the Unix time in seconds */
    private $clock;

    public function __construct(ClientInterface $http, string $baseUrl, string $appId, PusherSigner $signer, ?Closure $clock = null)
    {
        $this->http = $http;
        $this->baseUrl = rtrim($baseUrl, '/');
        $this->appId = $appId;
        $this->signer = $signer;
        $this->clock = $clock ?? static function (): int {
            return time();
        };
    }

    public function auth($request)
    {
        $channelName = $this->normalizeChannelName($request->channel_name);

        if (empty($request->channel_name) ||
            preg_match(self::CHANNEL_NAME, (string) $request->channel_name) !== 1 ||
            preg_match(self::SOCKET_ID, (string) $request->socket_id) !== 1 ||
            ($this->isGuardedChannel($request->channel_name) && ! $this->retrieveUser($request, $channelName))) {
            throw new AccessDeniedHttpException;
        }

        return parent::verifyUserCanAccessChannel($request, $channelName);
    }

    public function validAuthenticationResponse($request, $result)
    {
        if (Str::startsWith($request->channel_name, 'private')) {
            return ['auth' => $this->signer->channelAuth($request->socket_id, $request->channel_name)];
        }

        $user = $this->retrieveUser($request, $this->normalizeChannelName($request->channel_name));
        $userId = method_exists($user, 'getAuthIdentifierForBroadcasting')
            ? $user->getAuthIdentifierForBroadcasting()
            : $user->getAuthIdentifier();
        $channelData = json_encode(
            is_array($result) ? ['user_id' => $userId, 'user_info' => $result] : ['user_id' => $userId],
            JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR
        );

        return [
            'auth' => $this->signer->channelAuth($request->socket_id, $request->channel_name, $channelData),
            'channel_data' => $channelData,
        ];
    }

    /**
     * @throws PublishRefusedException when Switchboard refuses the publish (403 on its own
     *         channels, 413 for data over its limit, ...): nothing of that request was published
     * @throws BroadcastException when Switchboard does not answer
     */
    public function broadcast(array $channels, $event, array $payload = [])
    {
        $socket = Arr::pull($payload, 'socket');
        $data = json_encode($payload, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
        foreach (array_chunk($this->formatChannels($channels), self::CHANNELS_PER_REQUEST) as $chunk) {
            $body = ['name' => $event, 'data' => $data, 'channels' => $chunk];
            if ($socket !== null) {
                $body['socket_id'] = $socket;
            }
            $this->publish(json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR), $event, $chunk);
        }
    }

    /** The signed URL that `POST /apps/{app_id}/events` with `$body` goes to. */
    public function eventsUrl(string $body): string
    {
        $path = "/apps/{$this->appId}/events";
        $query = $this->signer->signRequest('POST', $path, [], $body, ($this->clock)());

        return $this->baseUrl.$path.'?'.http_build_query($query, '', '&', PHP_QUERY_RFC3986);
    }

    /** @param string[] $channels */
    private function publish(string $body, string $event, array $channels): void
    {
        try {
            $response = $this->http->request('POST', $this->eventsUrl($body), [
                'http_errors' => false,
                'headers' => ['Content-Type' => 'application/json', 'Accept' => 'application/json'],
                'body' => $body,
            ]);
        } catch (GuzzleException $error) {
            throw new BroadcastException("Switchboard did not answer the publish: {$error->getMessage()}", 0, $error);
        }
        $status = $response->getStatusCode();
        if ($status < 200 || $status >= 300) {
            throw new PublishRefusedException($status, Str::limit(trim((string) $response->getBody()), 300), $event, $channels);
        }
    }
}
