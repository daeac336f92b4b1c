<?php

// broadcasting-auth.php: a host's `/broadcasting/auth` under `php -S`, answered by Laravel's
// own route (`Broadcast::routes()`) through its HTTP kernel, with this package's
// `switchboard` driver; `crates/server/tests/laravel.rs` points a pusher-js subscriber at
// it. The signed-in user is GenericUser 7 (a host takes it from its session); channel
// `orders.{orderId}` admits the buyer of order 5 only. Settings come from the environment
// the Rust test sets: SWITCHBOARD_URL, SWITCHBOARD_PUSHER_APP_ID/KEY/SECRET.

use Illuminate\Auth\GenericUser;
use Illuminate\Broadcasting\BroadcastManager;
use Illuminate\Contracts\Http\Kernel as HttpKernel;
use Illuminate\Http\Request;
use Switchboard\Laravel\Tests\Support\LaravelApp;

require __DIR__.'/../bootstrap.php';

$app = LaravelApp::boot(['url' => getenv('SWITCHBOARD_URL'), 'pusher' => [
    'app_id' => getenv('SWITCHBOARD_PUSHER_APP_ID'),
    'key' => getenv('SWITCHBOARD_PUSHER_APP_KEY'),
    'secret' => getenv('SWITCHBOARD_PUSHER_APP_SECRET'),
]]);
$broadcast = $app->make(BroadcastManager::class);
// The host's routes/channels.php; no `web` middleware group in this bare application.
$broadcast->routes(['middleware' => []]);
$broadcast->channel('orders.{orderId}', static function (GenericUser $user, string $orderId) {
    return (int) $orderId === 5 && (int) $user->getAuthIdentifier() === 7;
});

$request = Request::capture();
$request->setUserResolver(static function () {
    return new GenericUser(['id' => 7]);
});
// This bare application has no views: have Laravel's handler answer refusals as JSON.
$request->headers->set('Accept', 'application/json');
// pusher-js posts from another origin (the page's, or here Node's): allow it, as a host
// whose front end is served elsewhere would.
$response = $app->make(HttpKernel::class)->handle($request);
$response->headers->set('Access-Control-Allow-Origin', '*');
$response->send();
