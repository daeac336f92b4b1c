<?php

namespace Switchboard\Laravel\Exceptions;

/** `invalid_request` (400/422): malformed, out of range, unknown or inactive reference. */
class InvalidRequestException extends ApiException
{
}
