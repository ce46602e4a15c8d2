build/obj/build/qapi/qapi-events.o: build/qapi/qapi-events.c \
 build/qapi/qapi-events.h build/qapi/qapi-visit.h build/qapi/qapi-types.h \
 userspace/qmp/qapi_rt.h
build/qapi/qapi-events.h:
build/qapi/qapi-visit.h:
build/qapi/qapi-types.h:
userspace/qmp/qapi_rt.h:
