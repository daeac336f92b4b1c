<?php

namespace Switchboard\Laravel;

use GuzzleHttp\Client as Guzzle;
use Illuminate\Broadcasting\BroadcastManager;
use Illuminate\Contracts\Foundation\Application;
use Illuminate\Support\ServiceProvider;
use Switchboard\Laravel\Broadcasting\PusherSigner;
use Switchboard\Laravel\Broadcasting\SwitchboardBroadcaster;
use Switchboard\Laravel\Exceptions\ConfigurationException;
use Switchboard\Laravel\Webhooks\VerifyWebhookSignature;
use Switchboard\Laravel\Webhooks\WebhookController;
use Switchboard\Laravel\Webhooks\WebhookVerifier;

/**
 * Wires the package into a Laravel application: the `switchboard` config, the API client
 * (also the `Switchboard` facade), the webhook verifier, middleware alias and route, and
 * the `switchboard` broadcast driver.
 */
class SwitchboardServiceProvider extends ServiceProvider
{
    public function register()
    {
        $this->mergeConfigFrom(__DIR__.'/../config/switchboard.php', 'switchboard');

        $this->app->singleton(SwitchboardClient::class, function (Application $app) {
            return SwitchboardClient::fromConfig($app['config']->get('switchboard'));
        });
        $this->app->alias(SwitchboardClient::class, 'switchboard');

        $this->app->singleton(WebhookVerifier::class, function (Application $app) {
            $secret = $app['config']->get('switchboard.webhook.secret');
            if (! is_string($secret) || $secret === '') {
                throw new ConfigurationException('switchboard.webhook.secret is empty: set SWITCHBOARD_WEBHOOK_SECRET to the service\'s webhook_secret.');
            }

            return new WebhookVerifier($secret, (int) $app['config']->get('switchboard.webhook.tolerance_seconds', 300));
        });
    }

    public function boot()
    {
        if ($this->app->runningInConsole()) {
            $this->publishes([__DIR__.'/../config/switchboard.php' => $this->app->configPath('switchboard.php')], 'switchboard-config');
        }

        $router = $this->app['router'];
        $router->aliasMiddleware('switchboard.webhook', VerifyWebhookSignature::class);
        $path = $this->app['config']->get('switchboard.webhook.path');
        if (is_string($path) && $path !== '' && ! $this->app->routesAreCached()) {
            $middleware = array_merge((array) $this->app['config']->get('switchboard.webhook.middleware', []), ['switchboard.webhook']);
            $router->post($path, WebhookController::class)->middleware($middleware)->name('switchboard.webhook');
        }

        $this->callAfterResolving(BroadcastManager::class, function (BroadcastManager $manager) {
            $manager->extend('switchboard', function (Application $app, array $connection) {
                return $this->broadcaster($app, $connection);
            });
        });
    }

    /** The driver for one `config/broadcasting.php` connection with `'driver' => 'switchboard'`. */
    private function broadcaster(Application $app, array $connection): SwitchboardBroadcaster
    {
        // The connection's own keys win, so one application may publish to two apps.
        $settings = array_merge($app['config']->get('switchboard.pusher', []), array_filter($connection, static function ($value) {
            return $value !== null && $value !== '';
        }));
        foreach (['app_id' => 'ID', 'key' => 'KEY', 'secret' => 'SECRET'] as $key => $variable) {
            if (! is_scalar($settings[$key] ?? null) || (string) $settings[$key] === '') {
                throw new ConfigurationException("The switchboard broadcaster needs {$key}: set SWITCHBOARD_PUSHER_APP_{$variable} (see `switchboard keys`).");
            }
        }
        $config = $app['config']->get('switchboard');

        return new SwitchboardBroadcaster(
            new Guzzle([
                'connect_timeout' => (float) ($config['connect_timeout_seconds'] ?? 2),
                'timeout' => (float) ($config['timeout_seconds'] ?? 5),
            ]),
            (string) ($settings['url'] ?? $config['url']),
            (string) $settings['app_id'],
            new PusherSigner((string) $settings['key'], (string) $settings['secret'])
        );
    }
}
