<?php

namespace Switchboard\Laravel\Tests\Support;

use Illuminate\Broadcasting\BroadcastServiceProvider;
use Illuminate\Config\Repository;
use Illuminate\Filesystem\FilesystemServiceProvider;
use Illuminate\Contracts\Debug\ExceptionHandler;
use Illuminate\Contracts\Http\Kernel as HttpKernel;
use Illuminate\Foundation\Application;
use Illuminate\Foundation\Exceptions\Handler;
use Illuminate\Foundation\Http\Kernel;
use Monolog\Handler\NullHandler;
use Illuminate\Support\Facades\Facade;
use Switchboard\Laravel\SwitchboardServiceProvider;

/**
 * A Laravel 8 application with only what the package needs (the framework's own events,
 * routing, filesystem and broadcasting providers, then the package's provider), as a host
 * would have it after installing the package. Requests go through Laravel's own HTTP
 * kernel and exception handler, so a failure answers what it would answer in production.
 */
final class LaravelApp
{
    /** @param array $switchboard the `switchboard` config, merged over config/switchboard.php */
    public static function boot(array $switchboard, array $broadcasting = []): Application
    {
        $app = new Application(sys_get_temp_dir());
        $defaults = require __DIR__.'/../../config/switchboard.php';
        $app->instance('config', new Repository([
            'app' => ['debug' => false],
            'logging' => ['default' => 'null', 'channels' => ['null' => ['driver' => 'monolog', 'handler' => NullHandler::class]]],
            'switchboard' => array_replace_recursive($defaults, $switchboard),
            'broadcasting' => array_replace_recursive([
                'default' => 'switchboard',
                'connections' => ['switchboard' => ['driver' => 'switchboard']],
            ], $broadcasting),
        ]));
        Facade::clearResolvedInstances();
        Facade::setFacadeApplication($app);
        $app->register(FilesystemServiceProvider::class);
        $app->register(BroadcastServiceProvider::class);
        $app->register(SwitchboardServiceProvider::class);
        $app->singleton(HttpKernel::class, Kernel::class);
        $app->singleton(ExceptionHandler::class, Handler::class);
        // The configuration above is the whole of it: no .env or config/ files to load.
        $app->bootstrapWith([]);
        $app->boot();

        return $app;
    }
}
