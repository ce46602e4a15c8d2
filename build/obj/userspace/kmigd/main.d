build/obj/userspace/kmigd/main.o: userspace/kmigd/main.c \
 userspace/kmigd/kmigd.h build/qapi/qapi-types.h userspace/qmp/qapi_rt.h \
 userspace/util/log.h userspace/util/loop.h userspace/engine/migrate.h \
 userspace/engine/uri.h build/qapi/qapi-events.h build/qapi/qapi-visit.h \
 build/qapi/qapi-types.h userspace/qmp/qmp_server.h
userspace/kmigd/kmigd.h:
build/qapi/qapi-types.h:
userspace/qmp/qapi_rt.h:
userspace/util/log.h:
userspace/util/loop.h:
userspace/engine/migrate.h:
userspace/engine/uri.h:
build/qapi/qapi-events.h:
build/qapi/qapi-visit.h:
build/qapi/qapi-types.h:
userspace/qmp/qmp_server.h:
