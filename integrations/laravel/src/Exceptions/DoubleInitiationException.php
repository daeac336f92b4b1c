<?php

namespace Switchboard\Laravel\Exceptions;

/** `double_initiation` (409): the client was already approached. */
class DoubleInitiationException extends ApiException
{
}
