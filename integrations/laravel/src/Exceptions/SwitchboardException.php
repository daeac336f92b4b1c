<?php

namespace Switchboard\Laravel\Exceptions;

use RuntimeException;

/**
 * Everything this package throws: catching this catches every failure of a call to
 * Switchboard, and no Guzzle exception ever escapes in its place.
 */
class SwitchboardException extends RuntimeException
{
}
