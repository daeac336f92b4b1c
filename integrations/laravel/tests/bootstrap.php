<?php

// The suite's autoloading without Composer: Debian's autoloaders for Laravel 8 and Guzzle
// (packages php-laravel-framework and php-guzzlehttp-guzzle, under /usr/share/php), and a
// PSR-4 loader for this package's own namespaces, as composer.json declares them.

foreach (['Illuminate/autoload.php', 'GuzzleHttp/autoload.php'] as $autoloader) {
    if (! stream_resolve_include_path($autoloader)) {
        fwrite(STDERR, "{$autoloader} is not on PHP's include path: install Debian's php-laravel-framework and php-guzzlehttp-guzzle.\n");
        exit(1);
    }
    require_once $autoloader;
}

spl_autoload_register(static function (string $class): void {
    $roots = [
        'Switchboard\\Laravel\\Tests\\' => __DIR__.'/',
        'Switchboard\\Laravel\\' => __DIR__.'/../src/',
    ];
    foreach ($roots as $prefix => $directory) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $directory.str_replace('\\', '/', substr($class, strlen($prefix))).'.php';
            if (is_file($file)) {
                require $file;
            }

            return;
        }
    }
});
