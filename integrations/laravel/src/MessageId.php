<?php

namespace Switchboard\Laravel;

use Switchboard\Laravel\Exceptions\InvalidMessageIdException;

/**
 * The host's id of an inbound message, the key `POST /api/messages` is idempotent on: a
 * positive integer or a string of 1-128 characters of `[A-Za-z0-9._:-]` (API.md v2). It
 * is sent in the form given (an integer stays a JSON number, a string a JSON string),
 * because Switchboard compares ids exactly and echoes them as given.
 */
final class MessageId
{
    private const STRING_FORM = '/\A[A-Za-z0-9._:-]{1,128}\z/';

    /** @var int|string */
    private $value;

    /** @param int|string $value */
    private function __construct($value)
    {
        $this->value = $value;
    }

    /**
     * @param  mixed  $value
     *
     * @throws InvalidMessageIdException
     */
    public static function parse($value): self
    {
        if (is_int($value)) {
            if ($value < 1) {
                throw new InvalidMessageIdException("A numeric message id is a positive integer, not {$value}.");
            }

            return new self($value);
        }
        if (is_string($value) && preg_match(self::STRING_FORM, $value) === 1) {
            return new self($value);
        }
        $shown = is_string($value) ? '"'.(strlen($value) > 40 ? substr($value, 0, 40).'...' : $value).'"' : get_debug_type($value);

        throw new InvalidMessageIdException("A message id is a positive integer or 1-128 characters of A-Z a-z 0-9 . _ : -, not {$shown}.");
    }

    /** @return int|string the id as it goes on the wire */
    public function value()
    {
        return $this->value;
    }
}
