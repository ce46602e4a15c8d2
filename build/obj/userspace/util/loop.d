build/obj/userspace/util/loop.o: userspace/util/loop.c \
 userspace/util/loop.h
userspace/util/loop.h:
