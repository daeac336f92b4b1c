<?php

namespace Switchboard\Laravel\Exceptions;

/** `not_found` (404): no such moderator, profile, client or route. */
class NotFoundException extends ApiException
{
}
