<?php

namespace Switchboard\Laravel\Exceptions;

/** `unavailable` (503): Switchboard's storage is down; the request may be retried. */
class UnavailableException extends ApiException
{
}
