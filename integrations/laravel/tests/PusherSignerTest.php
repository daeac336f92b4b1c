<?php

namespace Switchboard\Laravel\Tests;

use GuzzleHttp\Client as Guzzle;
use PHPUnit\Framework\TestCase;
use Switchboard\Laravel\Broadcasting\PusherSigner;
use Switchboard\Laravel\Broadcasting\SwitchboardBroadcaster;

/**
 * The signatures against the worked examples of Pusher's documentation ("HTTP API
 * reference: worked authentication example" and "Generating the authentication string"),
 * whose credentials are app 3, key 278d425bdf160c739803, secret 7ad3773142a6692b25b8.
 */
final class PusherSignerTest extends TestCase
{
    private const KEY = '278d425bdf160c739803';

    private const SECRET = '7ad3773142a6692b25b8';

    private const BODY = '{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}';

    public function test_the_http_api_worked_example(): void
    {
        $query = (new PusherSigner(self::KEY, self::SECRET))->signRequest('POST', '/apps/3/events', [], self::BODY, 1353088179);

        $this->assertSame([
            'auth_key' => self::KEY,
            'auth_timestamp' => '1353088179',
            'auth_version' => '1.0',
            'body_md5' => 'ec365a775a4cd0599faeb73354201b6f',
            'auth_signature' => 'da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c',
        ], $query);
    }

    public function test_the_channel_auth_worked_example(): void
    {
        $this->assertSame(
            self::KEY.':58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4',
            (new PusherSigner(self::KEY, self::SECRET))->channelAuth('1234.1234', 'private-foobar')
        );
    }

    public function test_query_keys_are_lowercased_sorted_and_signed_unescaped(): void
    {
        $signer = new PusherSigner(self::KEY, self::SECRET);

        $query = $signer->signRequest('get', '/apps/3/channels', ['Filter_By_Prefix' => 'presence-', 'info' => 'user_count'], '', 1353088179);

        $this->assertSame(['auth_key', 'auth_timestamp', 'auth_version', 'filter_by_prefix', 'info', 'auth_signature'], array_keys($query));
        $signed = "GET\n/apps/3/channels\nauth_key=".self::KEY.'&auth_timestamp=1353088179&auth_version=1.0&filter_by_prefix=presence-&info=user_count';
        $this->assertSame(hash_hmac('sha256', $signed, self::SECRET), $query['auth_signature']);
    }

    public function test_the_broadcaster_signs_its_publish_as_the_worked_example(): void
    {
        $broadcaster = new SwitchboardBroadcaster(new Guzzle(), 'http://switchboard.test/', '3', new PusherSigner(self::KEY, self::SECRET), static function (): int {
            return 1353088179;
        });

        $url = $broadcaster->eventsUrl(self::BODY);

        $this->assertSame(
            'http://switchboard.test/apps/3/events?auth_key='.self::KEY.'&auth_timestamp=1353088179&auth_version=1.0'
            .'&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c',
            $url
        );
    }
}
