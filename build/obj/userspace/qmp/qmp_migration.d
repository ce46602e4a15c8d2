build/obj/userspace/qmp/qmp_migration.o: userspace/qmp/qmp_migration.c \
 userspace/kmigd/kmigd.h build/qapi/qapi-types.h userspace/qmp/qapi_rt.h \
 userspace/engine/migrate.h userspace/engine/uri.h \
 build/qapi/qapi-commands.h build/qapi/qapi-visit.h \
 build/qapi/qapi-types.h userspace/qmp/qmp_server.h
userspace/kmigd/kmigd.h:
build/qapi/qapi-types.h:
userspace/qmp/qapi_rt.h:
userspace/engine/migrate.h:
userspace/engine/uri.h:
build/qapi/qapi-commands.h:
build/qapi/qapi-visit.h:
build/qapi/qapi-types.h:
userspace/qmp/qmp_server.h:
