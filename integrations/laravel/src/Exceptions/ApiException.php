<?php

namespace Switchboard\Laravel\Exceptions;

use Throwable;

/**
 * Switchboard refused the request with `{"error": {"code", "message"}}` (API.md). Each
 * documented code has its own subclass; a rejected request changed nothing.
 */
class ApiException extends SwitchboardException
{
    /** The documented error code each subclass stands for. */
    public const CLASSES = [
        'unauthorized' => UnauthorizedException::class,
        'forbidden' => ForbiddenException::class,
        'not_found' => NotFoundException::class,
        'invalid_request' => InvalidRequestException::class,
        'client_locked' => ClientLockedException::class,
        'double_initiation' => DoubleInitiationException::class,
        'not_profile_holder' => NotProfileHolderException::class,
        'not_in_queue' => NotInQueueException::class,
        'conflict' => ConflictException::class,
        'unavailable' => UnavailableException::class,
    ];

    /** @var int */
    private $status;

    /** @var string */
    private $errorCode;

    final public function __construct(int $status, string $errorCode, string $message, ?Throwable $previous = null)
    {
        parent::__construct($message, $status, $previous);
        $this->status = $status;
        $this->errorCode = $errorCode;
    }

    /**
     * The exception for an error answer, or null when the body is not Switchboard's error
     * shape or names a code this version does not know (the caller then reports it as an
     * unexpected response).
     */
    public static function fromAnswer(int $status, string $body): ?self
    {
        $decoded = json_decode($body, true);
        $error = is_array($decoded) ? ($decoded['error'] ?? null) : null;
        if (! is_array($error) || ! is_string($error['code'] ?? null) || ! is_string($error['message'] ?? null)) {
            return null;
        }
        $class = self::CLASSES[$error['code']] ?? null;

        return $class === null ? null : new $class($status, $error['code'], $error['message']);
    }

    /** The HTTP status Switchboard answered. */
    public function status(): int
    {
        return $this->status;
    }

    /** The API error code (`client_locked`, ...). */
    public function errorCode(): string
    {
        return $this->errorCode;
    }
}
