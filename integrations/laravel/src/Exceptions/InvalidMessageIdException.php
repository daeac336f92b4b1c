<?php

namespace Switchboard\Laravel\Exceptions;

/**
 * A message id outside API.md's form (a positive integer, or 1-128 characters of
 * `[A-Za-z0-9._:-]`), refused before anything is sent.
 */
class InvalidMessageIdException extends SwitchboardException
{
}
