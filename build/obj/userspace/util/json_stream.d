build/obj/userspace/util/json_stream.o: userspace/util/json_stream.c \
 userspace/util/json_stream.h
userspace/util/json_stream.h:
