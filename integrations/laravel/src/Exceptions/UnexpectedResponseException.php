<?php

namespace Switchboard\Laravel\Exceptions;

/**
 * Switchboard (or whatever answered at its URL) sent something outside the contract: a
 * status without the error shape, an unknown error code, or a body that is not JSON.
 */
class UnexpectedResponseException extends SwitchboardException
{
    /** @var int */
    private $status;

    /** @var string */
    private $body;

    public function __construct(int $status, string $body, string $why)
    {
        parent::__construct(sprintf('Switchboard answered %d: %s (%s)', $status, $why, self::excerpt($body)), $status);
        $this->status = $status;
        $this->body = $body;
    }

    public function status(): int
    {
        return $this->status;
    }

    public function body(): string
    {
        return $this->body;
    }

    private static function excerpt(string $body): string
    {
        return strlen($body) > 200 ? substr($body, 0, 200).'...' : $body;
    }
}
