<?php

namespace Switchboard\Laravel\Exceptions;

/** `unauthorized` (401): the token is missing, expired or not signed with the service's secret. */
class UnauthorizedException extends ApiException
{
}
