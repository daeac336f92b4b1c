<?php

namespace Switchboard\Laravel\Exceptions;

/** `not_profile_holder` (409): the moderator does not hold the profile. */
class NotProfileHolderException extends ApiException
{
}
