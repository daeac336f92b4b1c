<?php

namespace Switchboard\Laravel\Tests;

use PHPUnit\Framework\TestCase;
use Switchboard\Laravel\Exceptions;
use Switchboard\Laravel\Exceptions\ApiException;

/**
 * Every error code of API.md becomes its own exception class, carrying the status and the
 * service's message; anything else is not mistaken for one. (The codes the platform
 * routes can answer today are also met against the real service in ClientTest.)
 */
final class ErrorMappingTest extends TestCase
{
    public function codes(): array
    {
        return [
            ['unauthorized', 401, Exceptions\UnauthorizedException::class],
            ['forbidden', 403, Exceptions\ForbiddenException::class],
            ['not_found', 404, Exceptions\NotFoundException::class],
            ['invalid_request', 422, Exceptions\InvalidRequestException::class],
            ['client_locked', 409, Exceptions\ClientLockedException::class],
            ['double_initiation', 409, Exceptions\DoubleInitiationException::class],
            ['not_profile_holder', 409, Exceptions\NotProfileHolderException::class],
            ['not_in_queue', 409, Exceptions\NotInQueueException::class],
            ['conflict', 409, Exceptions\ConflictException::class],
            ['unavailable', 503, Exceptions\UnavailableException::class],
        ];
    }

    /** @dataProvider codes */
    public function test_each_code_has_its_class(string $code, int $status, string $class): void
    {
        $body = json_encode(['error' => ['code' => $code, 'message' => "because {$code}"]]);

        $error = ApiException::fromAnswer($status, $body);

        $this->assertInstanceOf($class, $error);
        $this->assertSame([$status, $code, "because {$code}"], [$error->status(), $error->errorCode(), $error->getMessage()]);
    }

    public function test_the_classes_cover_every_code_once(): void
    {
        $this->assertSame(count($this->codes()), count(array_unique(ApiException::CLASSES)));
    }

    public function notErrors(): array
    {
        return [
            'an unknown code' => ['{"error": {"code": "teapot", "message": "short and stout"}}'],
            'no message' => ['{"error": {"code": "conflict"}}'],
            'a code that is not a string' => ['{"error": {"code": 409, "message": "x"}}'],
            'another shape' => ['{"message": "Server Error"}'],
            'HTML' => ['<html><body>502 Bad Gateway</body></html>'],
            'nothing' => [''],
        ];
    }

    /** @dataProvider notErrors */
    public function test_other_answers_are_not_api_errors(string $body): void
    {
        $this->assertNull(ApiException::fromAnswer(502, $body));
    }
}
