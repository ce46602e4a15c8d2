build/obj/userspace/cli/kmig.o: userspace/cli/kmig.c \
 userspace/util/json_stream.h userspace/util/json_write.h
userspace/util/json_stream.h:
userspace/util/json_write.h:
