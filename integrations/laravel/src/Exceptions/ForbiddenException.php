<?php

namespace Switchboard\Laravel\Exceptions;

/** `forbidden` (403): the token is valid but its role may not do this. */
class ForbiddenException extends ApiException
{
}
