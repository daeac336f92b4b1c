<?php

// Where Switchboard runs and the secrets this application shares with it. Every key reads
// an environment variable, so `.env` is the only place a deployment needs to touch.
return [
    // Base URL of the Switchboard service, without a trailing slash.
    'url' => env('SWITCHBOARD_URL', 'http://127.0.0.1:8080'),

    // Either a long-lived platform token (`switchboard token --role platform --ttl 8760h`)...
    'platform_token' => env('SWITCHBOARD_PLATFORM_TOKEN'),
    // ...or the service's `jwt_secret`, from which the package mints short platform tokens
    // itself. The secret is also what moderator tokens for the host's own pages are signed
    // with, so without it `Switchboard::moderatorToken()` is unavailable.
    'jwt_secret' => env('SWITCHBOARD_JWT_SECRET'),
    // Lifetime of the tokens the package mints, in seconds.
    'platform_token_ttl_seconds' => (int) env('SWITCHBOARD_PLATFORM_TOKEN_TTL', 300),
    'moderator_token_ttl_seconds' => (int) env('SWITCHBOARD_MODERATOR_TOKEN_TTL', 43200),

    // HTTP timeouts for calls to Switchboard, in seconds.
    'connect_timeout_seconds' => (float) env('SWITCHBOARD_CONNECT_TIMEOUT', 2),
    'timeout_seconds' => (float) env('SWITCHBOARD_TIMEOUT', 5),

    'webhook' => [
        // The service's `webhook_secret` (`whsec_...`, shown by `switchboard keys`).
        'secret' => env('SWITCHBOARD_WEBHOOK_SECRET'),
        // Path of the receiving route this package registers; empty registers none (then
        // put the `switchboard.webhook` middleware on a route of your own).
        'path' => env('SWITCHBOARD_WEBHOOK_PATH', 'switchboard/webhook'),
        // How far `webhook-timestamp` may be from this server's clock, in seconds.
        'tolerance_seconds' => (int) env('SWITCHBOARD_WEBHOOK_TOLERANCE', 300),
        // Middleware the route runs before the signature check (never `web`: no CSRF).
        'middleware' => [],
    ],

    // The Pusher-protocol app Switchboard serves (`switchboard keys`), used by the
    // `switchboard` broadcast driver. Defaults to the PUSHER_* keys Echo is pointed with.
    'pusher' => [
        'app_id' => env('SWITCHBOARD_PUSHER_APP_ID', env('PUSHER_APP_ID')),
        'key' => env('SWITCHBOARD_PUSHER_APP_KEY', env('PUSHER_APP_KEY')),
        'secret' => env('SWITCHBOARD_PUSHER_APP_SECRET', env('PUSHER_APP_SECRET')),
    ],
];
