build/obj/userspace/engine/uri.o: userspace/engine/uri.c \
 userspace/engine/uri.h userspace/qmp/qapi_rt.h
userspace/engine/uri.h:
userspace/qmp/qapi_rt.h:
