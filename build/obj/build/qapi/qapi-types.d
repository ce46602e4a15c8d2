build/obj/build/qapi/qapi-types.o: build/qapi/qapi-types.c \
 build/qapi/qapi-types.h userspace/qmp/qapi_rt.h
build/qapi/qapi-types.h:
userspace/qmp/qapi_rt.h:
