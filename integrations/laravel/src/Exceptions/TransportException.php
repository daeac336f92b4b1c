<?php

namespace Switchboard\Laravel\Exceptions;

/**
 * No answer: connection refused, DNS failure, TLS failure or timeout. Whether Switchboard
 * applied the request is unknown; the platform routes are idempotent, so retrying is safe.
 */
class TransportException extends SwitchboardException
{
}
