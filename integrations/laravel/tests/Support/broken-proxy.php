<?php

// broken-proxy.php: what sometimes stands between the host and Switchboard, under
// `php -S`: `/gateway` answers a proxy's HTML 502, anything else a 200 that is not JSON.

if (parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) === '/gateway/api/moderators/1') {
    http_response_code(502);
    header('Content-Type: text/html');
    echo '<html><body><h1>502 Bad Gateway</h1></body></html>';

    return;
}
header('Content-Type: text/plain');
echo 'ok';
