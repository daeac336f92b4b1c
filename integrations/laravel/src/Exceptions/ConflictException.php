<?php

namespace Switchboard\Laravel\Exceptions;

/** `conflict` (409): the change collides with the current state. */
class ConflictException extends ApiException
{
}
