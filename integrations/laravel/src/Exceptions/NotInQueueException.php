<?php

namespace Switchboard\Laravel\Exceptions;

/** `not_in_queue` (409): the moderator is not queued. */
class NotInQueueException extends ApiException
{
}
