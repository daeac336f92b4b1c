<?php

namespace Switchboard\Laravel\Exceptions;

/** `client_locked` (409): another moderator holds the client. */
class ClientLockedException extends ApiException
{
}
