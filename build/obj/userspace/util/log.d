build/obj/userspace/util/log.o: userspace/util/log.c userspace/util/log.h
userspace/util/log.h:
