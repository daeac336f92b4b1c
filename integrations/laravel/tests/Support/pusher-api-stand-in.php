<?php

// pusher-api-stand-in.php: a stand-in for Switchboard's Pusher HTTP API under `php -S`: appends each request it
// receives (method, path, query, body) as one JSON line to $SWITCHBOARD_RECEIVER_LOG and
// answers Pusher's `{}`. It checks nothing: the test reads the log and decides.

$record = [
    'method' => $_SERVER['REQUEST_METHOD'],
    'path' => parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH),
    'query' => $_GET,
    'body' => file_get_contents('php://input'),
];
file_put_contents(getenv('SWITCHBOARD_RECEIVER_LOG'), json_encode($record)."\n", FILE_APPEND | LOCK_EX);
header('Content-Type: application/json');
echo '{}';
