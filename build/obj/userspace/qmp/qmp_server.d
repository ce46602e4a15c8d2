build/obj/userspace/qmp/qmp_server.o: userspace/qmp/qmp_server.c \
 userspace/util/json_stream.h userspace/util/json_write.h \
 userspace/util/log.h userspace/util/loop.h build/qapi/qapi-commands.h \
 build/qapi/qapi-visit.h build/qapi/qapi-types.h userspace/qmp/qapi_rt.h \
 build/qapi/qapi-events.h userspace/qmp/qmp_server.h
userspace/util/json_stream.h:
userspace/util/json_write.h:
userspace/util/log.h:
userspace/util/loop.h:
build/qapi/qapi-commands.h:
build/qapi/qapi-visit.h:
build/qapi/qapi-types.h:
userspace/qmp/qapi_rt.h:
build/qapi/qapi-events.h:
userspace/qmp/qmp_server.h:
