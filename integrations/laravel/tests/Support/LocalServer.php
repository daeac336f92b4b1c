<?php

namespace Switchboard\Laravel\Tests\Support;

use PHPUnit\Framework\Assert;

/**
 * A script of this directory under PHP's built-in server on a free port, for as long as
 * the object lives: `pusher-api-stand-in.php` records what the broadcaster publishes,
 * `broken-proxy.php` answers what no Switchboard would.
 */
final class LocalServer
{
    /** @var resource */
    private $process;

    /** @var string */
    private $log;

    /** @var string */
    public $url;

    public function __construct(string $script = 'pusher-api-stand-in.php')
    {
        $probe = stream_socket_server('tcp://127.0.0.1:0');
        $address = stream_socket_get_name($probe, false);
        fclose($probe);
        $this->log = tempnam(sys_get_temp_dir(), 'switchboard-receiver');
        $this->url = "http://{$address}";
        $this->process = proc_open(
            [PHP_BINARY, '-S', $address, __DIR__.'/'.$script],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']],
            $pipes,
            null,
            ['SWITCHBOARD_RECEIVER_LOG' => $this->log]
        );
        Assert::assertIsResource($this->process, 'php -S did not start');
        // Ready when it accepts connections; give up after 10 s.
        $deadline = microtime(true) + 10;
        while (($connection = @stream_socket_client("tcp://{$address}", $errorNumber, $errorText, 1)) === false) {
            Assert::assertLessThan($deadline, microtime(true), "php -S never listened on {$address}");
            usleep(20000);
        }
        fclose($connection);
    }

    /** @return array[] every request received so far, oldest first */
    public function requests(): array
    {
        $lines = array_filter(explode("\n", (string) file_get_contents($this->log)));

        return array_map(static function (string $line): array {
            return json_decode($line, true);
        }, array_values($lines));
    }

    public function __destruct()
    {
        proc_terminate($this->process);
        proc_close($this->process);
        @unlink($this->log);
    }
}
