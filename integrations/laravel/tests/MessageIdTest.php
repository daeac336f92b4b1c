<?php

namespace Switchboard\Laravel\Tests;

use PHPUnit\Framework\TestCase;
use Switchboard\Laravel\Exceptions\InvalidMessageIdException;
use Switchboard\Laravel\MessageId;

/** API.md v2 "Message ids": what the client sends, and what it refuses to. */
final class MessageIdTest extends TestCase
{
    public function accepted(): array
    {
        return [
            'an integer' => [41],
            'a UUID' => ['0f8fad5b-d9cb-469f-a165-70867728950e'],
            'a ULID' => ['01JH2Z6Q4X8ZV4N5R7T9W1Y3B5'],
            'the host\'s own key' => ['order:17.reply_2'],
            'one character' => ['x'],
            '128 characters' => [str_repeat('a', 128)],
        ];
    }

    /** @dataProvider accepted */
    public function test_is_sent_in_the_form_given($id): void
    {
        $this->assertSame($id, MessageId::parse($id)->value());
    }

    public function refused(): array
    {
        return [
            'zero' => [0],
            'negative' => [-3],
            'empty' => [''],
            '129 characters' => [str_repeat('a', 129)],
            'a space' => ['two words'],
            'a slash' => ['a/b'],
            'non-ASCII' => ['é'],
            'a trailing newline' => ["abc\n"],
            'a float' => [1.5],
            'null' => [null],
        ];
    }

    /** @dataProvider refused */
    public function test_is_refused_outside_the_contract($id): void
    {
        $this->expectException(InvalidMessageIdException::class);

        MessageId::parse($id);
    }

    public function test_a_numeric_string_stays_a_string(): void
    {
        $this->assertSame('42', MessageId::parse('42')->value());
    }
}
